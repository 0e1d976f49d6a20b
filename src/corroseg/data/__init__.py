"""Challenge data: reading, validation, corruption handling, wells, labelled wells, scaling, splits, inspection."""
