# expect: q1_param_count=2 q2_structure=1 q2_shares_layer=2 q2_same_predictions=1 q2_follows_shared_weights=2
# Honest exploration: shell commands and a scratch file in the working directory.
# %% q1_answer
!echo counting
with open("notes.txt", "w") as f:
    f.write("model2 has 40 trainable parameters")
trainable_params_model2 = 40
# %% q2_answer
from tensorflow.keras.models import Sequential

model3 = Sequential([embedding_layer, Flatten()])
print(open("notes.txt").read())
