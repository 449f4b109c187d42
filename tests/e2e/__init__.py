"""The demo as a person sees it: scripts/develop driven through Chromium."""
