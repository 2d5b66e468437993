"""gr00t-ros operator console: gr00t-operator (command line) and the browser console node."""
