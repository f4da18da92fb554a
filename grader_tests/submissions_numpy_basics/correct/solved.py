# expect: q1_column_means=2 q2_standardize=2 q3_outer_sum=1
# %% q1_answer
def column_means(a):
    return a.mean(axis=0)
# %% q2_answer
def standardize(a):
    return (a - a.mean(axis=0)) / a.std(axis=0)
# %% q3_answer
def outer_sum(x, y):
    return x[:, np.newaxis] + y[np.newaxis, :]
