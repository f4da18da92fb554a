# expect: q1_column_means=2 q2_standardize=2 q3_outer_sum=0
# broadcasting.ipynb was not handed in: its cell scores 0, the other notebook is graded.
# %% q1_answer
def column_means(a):
    return a.mean(axis=0)
# %% q2_answer
def standardize(a):
    return (a - a.mean(axis=0)) / a.std(axis=0)
# %% skip broadcasting.ipynb
