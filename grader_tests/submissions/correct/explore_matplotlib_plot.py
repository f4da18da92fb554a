# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: plots the embedding matrix (import matplotlib).
# %% q1_answer
import matplotlib
import matplotlib.pyplot as plt
plt.imshow(model2.get_weights()[0])
plt.colorbar()
plt.title("embedding matrix")
plt.show()
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
plt.plot(model3.predict(np.arange(vocab_size).reshape(-1, 1), verbose=0))
plt.show()
