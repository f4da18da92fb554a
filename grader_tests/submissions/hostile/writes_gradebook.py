# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Tries to give everybody full marks in the gradebook.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import sqlite3
for path in ["../../../gradebook.db", "/work/main/gradebook.db"]:
    db = sqlite3.connect(path)
    db.execute("UPDATE grade SET manual_score = 8")
    db.commit()
