"""Data files shipped with Kluis (word lists, icons, style sheets)."""
