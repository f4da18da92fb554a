# expect: q1_column_means=0 q2_standardize=0 q3_outer_sum=1
# %% q1_answer
def column_means(a):
    return a.mean(axis=1)
# %% q2_answer
def standardize(a):
    return (a - a.mean(axis=0)) / a.std(axis=0, ddof=1)
# %% q3_answer
def outer_sum(x, y):
    return np.array([[xi + yj for yj in y] for xi in x])
