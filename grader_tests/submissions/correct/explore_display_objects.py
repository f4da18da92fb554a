# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: displays rich objects (Markdown, the model, a DataFrame-like table).
# %% q1_answer
from IPython.display import Markdown, display
display(Markdown("**model2** has these weights:"))
display(model2.get_weights())
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
display(model3)
display(Markdown(f"model3 has {len(model3.layers)} layers"))
