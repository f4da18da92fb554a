# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# %% q1_answer
trainable_params_model2 = 40.0  # a float is fine as long as it is a whole number
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([
    Input(shape=(1,)),
    embedding_layer,
    Flatten(),
], name="model3")
model3.summary()
print(model3.predict(labels_to_encode, verbose=0))
