"""The console's widgets: the shell window, its pages and dialogs."""
