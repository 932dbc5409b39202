"""Drivers: one module per container engine. A driver observes and performs
primitive operations; it decides nothing (the planner does)."""
