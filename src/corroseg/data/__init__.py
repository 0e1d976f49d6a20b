"""Challenge data: reading, validation, corruption handling, wells, scaling, augmentation, splits."""
