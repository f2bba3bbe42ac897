"""Physics-informed networks: PDE definitions, reference solutions and error certification."""
