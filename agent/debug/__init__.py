"""The step-through debugger (web page and terminal) and the bundle viewer."""
