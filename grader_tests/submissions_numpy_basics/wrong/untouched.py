# expect: q1_column_means=0 q2_standardize=0 q3_outer_sum=0
