# expect: q1_column_means=0 q2_standardize=2 q3_outer_sum=1
# The means kept as a row (shape (1, m) instead of (m,)); the other answers are right.
# %% q1_answer
def column_means(a):
    return a.mean(axis=0, keepdims=True)
# %% q2_answer
def standardize(a):
    return (a - a.mean(axis=0)) / a.std(axis=0)
# %% q3_answer
def outer_sum(x, y):
    return x[:, None] + y[None, :]
