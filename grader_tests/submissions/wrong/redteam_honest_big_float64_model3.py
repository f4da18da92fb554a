# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=0 q2_follows_shared_weights=0
# An honest wrong answer: model3 stacks two large float64 Dense layers after the shared embedding (1.7 million
# weights, under the exporter's 2 million numbers). Its genuine hand-over is about 18 MB of JSON, over the
# validator's 16 MB, so each model3 cell is refused as "a malformed hand-over": flagged for manual review as
# forged, with the message "remove code that writes grading messages", and scored 0, although the honest
# answer earns q2_structure and q2_shares_layer (3 points). Wrong answers are never to be flagged.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import keras
keras.config.set_floatx("float64")
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dense
model3 = Sequential([embedding_layer, Flatten(), Dense(1300, dtype="float64"), Dense(1300, dtype="float64"), Dense(embedding_size)])
