"""One batch of tool calls: tools from functions, input validation, dispatch, each call's deadlines, the threads sync tools run in, results as text."""
