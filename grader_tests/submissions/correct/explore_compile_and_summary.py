# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: compiles model3 and prints its summary and config (no training).
# %% q1_answer
model2.summary()
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
model3.compile(optimizer="sgd", loss="mse")
model3.summary()
print(model3.get_config()["name"], [layer.name for layer in model3.layers])
