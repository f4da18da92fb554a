# expect: q1_column_means=2 q2_standardize=2 q3_outer_sum=1
# %% q1_answer
def column_means(a):
    return np.mean(a, 0)
# %% q2_answer
def standardize(a):
    centred = a - column_means(a)
    return centred / np.sqrt((centred ** 2).mean(axis=0))
# %% q3_answer
def outer_sum(x, y):
    return np.add.outer(x, y)
