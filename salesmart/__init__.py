"""salesmart: the sales warehouse of an online store — loaders, report API client and tools."""
