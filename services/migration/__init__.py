"""The migration-sync service: moves the office off the legacy system customer by customer, with nothing lost."""
