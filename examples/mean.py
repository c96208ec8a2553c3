def mean(values):
    """Return the arithmetic mean of values."""
    total = 0
    for v in values:
        
    return total / len(values)


print(mean([1, 2, 3]))
