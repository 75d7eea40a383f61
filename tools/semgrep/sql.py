"""Cases for tools/semgrep/sql.yml (`semgrep --test tools/semgrep`): `ruleid` lines must match, `ok` lines must not."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text


async def customer_by_code(session, connection, code: str, schema: str) -> None:
    # ruleid: sql-built-from-strings
    await session.execute(text(f"SELECT * FROM customer.customers WHERE code = '{code}'"))
    # ruleid: sql-built-from-strings
    await session.execute(sa.text("SELECT * FROM customer.customers WHERE code = '%s'" % code))
    # ruleid: sql-built-from-strings
    await connection.fetchrow("SELECT * FROM customer.customers WHERE code = '{}'".format(code))
    # ruleid: sql-built-from-strings
    await connection.execute("DELETE FROM " + schema + ".customers")
    # ruleid: sql-built-from-strings
    await connection.exec_driver_sql(f"SET search_path TO {schema}")
    statement = f"SELECT * FROM {schema}.customers WHERE code = '{code}'"
    # ruleid: sql-built-from-strings
    await connection.fetch(statement)

    # ok: sql-built-from-strings
    await session.execute(text("SELECT * FROM customer.customers WHERE code = :code").bindparams(code=code))
    # ok: sql-built-from-strings
    await connection.fetchrow("SELECT * FROM customer.customers WHERE code = $1", code)
    # ok: sql-built-from-strings
    await session.execute(sa.select(sa.column("id")).where(sa.column("code") == f"{code}"))
    constant = "SELECT 1"
    # ok: sql-built-from-strings
    await connection.fetchval(constant)


def downgrade() -> None:
    for table in ("audit", "flag_versions"):
        # ruleid: sql-built-from-strings
        op.execute(f"DROP TRIGGER {table}_append_only ON flags.{table}")
    # ok: sql-built-from-strings
    op.execute("DROP TRIGGER audit_append_only ON flags.audit")
