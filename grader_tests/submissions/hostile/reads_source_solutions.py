# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: none
# Tries to find the instructor's source notebook (solutions and hidden tests) and run it.
# %% q1_answer
trainable_params_model2 = 40
# %% q2_answer
import glob, json, os
found = []
for pattern in ["../../../source/*/*.ipynb", "/work/*/source/*/*.ipynb", "/work/**/source/embeddings/*.ipynb", "/tmp/**/source/embeddings/*.ipynb"]:
    found += glob.glob(pattern, recursive=True)
for path in found:
    for cell in json.load(open(path))["cells"]:
        if "BEGIN SOLUTION" in "".join(cell["source"]):
            exec("".join(cell["source"]))
print("found:", found)
