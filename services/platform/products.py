"""The product catalogue's codes (method × size × grade, plus the special SKUs), shared by customer and order.

Codes are data every service must agree on; prices are not here (they are the order service's dated list).
"""

from __future__ import annotations

from dataclasses import dataclass

FULL_CYLINDER_GROSS_KG = {4: 6, 10: 15, 16: 24, 20: 30, 50: 75}


@dataclass(frozen=True)
class Product:
    code: str
    method: str  # cylinder | flow
    size_kg: int
    grade: str  # regular | lucky (好運) | safe (瓶安) | propane (營) | happy (幸福丸)
    label_zh: str

    @property
    def gross_kg(self) -> int:
        return FULL_CYLINDER_GROSS_KG[self.size_kg]


def _catalogue() -> dict[str, Product]:
    grades = {"regular": "一般", "lucky": "好運", "safe": "瓶安"}
    products: dict[str, Product] = {}
    for method, method_zh in (("cylinder", "桶裝"), ("flow", "流量")):
        for size in (4, 10, 16, 20, 50):
            for grade, grade_zh in grades.items():
                code = f"{method}-{size}-{grade}"
                products[code] = Product(code, method, size, grade, f"{method_zh}{grade_zh}{size}kg")
    products["propane-20"] = Product("propane-20", "cylinder", 20, "propane", "營20")
    products["propane-16"] = Product("propane-16", "cylinder", 16, "propane", "營16")
    products["happy-4"] = Product("happy-4", "cylinder", 4, "happy", "幸福丸4kg")
    return products


PRODUCTS: dict[str, Product] = _catalogue()
