return "one"
