"""Boot loaders, one unit each (stub until h0's restructure lands)."""
