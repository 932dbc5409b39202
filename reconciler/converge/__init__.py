"""Convergence: observe, admit, plan and execute a plan through a driver."""
