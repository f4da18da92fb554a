# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: IPython magics (%timeit, %who).
# %% q1_answer
trainable_params_model2 = 40
%who int
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
%timeit -n 2 -r 1 model3(labels_to_encode)
