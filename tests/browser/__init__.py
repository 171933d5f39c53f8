"""Browser tests' helpers: the Playwright driver for Debian's Chromium, the frontends to test
with, and the builder of the example workflows in workflows/."""
