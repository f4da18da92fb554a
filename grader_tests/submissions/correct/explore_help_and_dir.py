# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: reads the documentation (help) and lists attributes (dir).
# %% q1_answer
help(model2.count_params)
print([name for name in dir(model2) if "weight" in name])
trainable_params_model2 = model2.count_params()
# %% q2_answer
from tensorflow.keras.models import Sequential

help(Sequential.add)
model3 = Sequential([embedding_layer, Flatten()])
print(dir(model3)[:5])
