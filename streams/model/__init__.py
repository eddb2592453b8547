"""Pure math, no I/O: the window aggregate, the rates of DOMAIN.md, the benchmark bands."""
