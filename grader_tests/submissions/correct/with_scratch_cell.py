# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# %% q1_answer
model2.summary()
trainable_params_model2 = 40
# %% after demo_model2
# a cell the student added to experiment
print(model2.count_params())
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
print(model3.predict(labels_to_encode, verbose=0))
