"""Vehicle routing for Lucky Gas as a pure library: the model, PyVRP (the engine), OR-Tools (the comparison),
an independent feasibility checker, urgent insertion and re-planning, and the Solomon benchmark reader."""
