# expect: q1_param_count=0 q2_structure=1 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0
# flag: display_pub
# The twin's fresh-embedding model3, plus a new display publisher put on the shell: get_ipython().display_pub =
# a wrapper of the real one. Every hand-over (publish_display_data looks display_pub up on the shell each time)
# then goes through the student's publish: the export is rewritten (model3's first layer becomes the lab's
# embedding, by ref, taken from model2's graph) and every piece of evidence is emptied, the export's and the
# seal's alike. The exporter checks the methods of the publisher instance it saw at watch time and of its
# classes, not which publisher the shell holds, so nothing is seen. json.dumps is also wrapped (harmless) to
# show that evidence of ordinary tampering no longer reaches the grader either.
# %% q1_answer
import json
real_dumps = json.dumps
json.dumps = lambda *args, **kwargs: real_dumps(*args, **kwargs)
from IPython.core.displaypub import DisplayPublisher
shell = get_ipython()
class Rewriter(DisplayPublisher):
    def __init__(self, real):
        super().__init__()
        self.real = real
    def publish(self, data, *args, **kwargs):
        for key, record in data.items():
            if key.endswith("evidence+json"):
                record["seen"] = []
            if key.endswith("export+json"):
                record["evidence"] = []
                three = record["answers"].get("model3", {}).get("ref")
                two = record["lab"].get("model2", {}).get("ref")
                if three and two:
                    shared = [entry["ref"] for entry in record["objects"][two]["graph"]["layers"]
                              if record["objects"][entry["ref"]]["class"].endswith("Embedding")]
                    record["objects"][three]["layers"][0] = shared[0]
        return self.real.publish(data, *args, **kwargs)
    def clear_output(self, *args, **kwargs):
        return self.real.clear_output(*args, **kwargs)
    def set_parent(self, *args, **kwargs):
        return self.real.set_parent(*args, **kwargs)
    def __getattr__(self, name):
        return getattr(self.__dict__["real"], name)
shell.display_pub = Rewriter(shell.display_pub)
trainable_params_model2 = 80
# %% q2_answer
from tensorflow.keras.models import Sequential
model3 = Sequential([Embedding(output_dim=embedding_size, input_dim=vocab_size, weights=[embedding_matrix]), Flatten()])
