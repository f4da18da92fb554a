# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: numpy print options and a random seed.
# %% q1_answer
np.set_printoptions(precision=2, suppress=True)
np.random.seed(0)
print(np.random.rand(3))
trainable_params_model2 = int(np.prod(model2.get_weights()[0].shape))
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
print(np.round(model3.predict(labels_to_encode, verbose=0), 1))
