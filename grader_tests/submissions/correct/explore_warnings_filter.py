# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: silences warnings it does not want to see (import warnings).
# %% q1_answer
import warnings
warnings.filterwarnings("ignore")
warnings.simplefilter("ignore", category=DeprecationWarning)
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model3 = Sequential([embedding_layer, Flatten()])
