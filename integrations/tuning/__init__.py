"""Fitting a tenant's decisions on its own data: the calibrated router."""
