"""URL-SOM's own backbone (the cifar10-cpu profile's held-out run: trained on the 50,000 training images) scored
by the same kNN as the SimSiam peer (urlsom_book.ssl_baseline: k = 200, t = 0.1, bank = the training images,
queries = the 10,000 test images), added to the SimSiam result file as its `urlsom` entry:
    python score_urlsom.py RESULT.json runs/0df5991087792b86 (from a checkout holding data/cifar10-jpg/)."""
import json
import sys
import time

from urlsom_book import ssl_baseline as S
from urlsom_core.data import resolve
from urlsom_core.distributed import pick_device
from urlsom_core.predict import predict
from urlsom_core.runs import Run

res_path, run_dir = sys.argv[1], sys.argv[2]
res = json.load(open(res_path))
run = Run.load(run_dir)
t0 = time.time()
splits = resolve(run.config.data)
bank, query, protocol = S.knn_split(splits, 0.2, run.config.data.split_seed)
assert protocol == res["protocol"], (protocol, res["protocol"])
dev = pick_device("cpu")
net, aug = run.load_model("cpu"), run.augment()
def feats(d):
                     return predict(net, d, aug, dev, embed=True)["embedding"]
n_classes = len(splits.train.classes)
acc = S.knn_accuracy(feats(bank), bank.labels.numpy(), feats(query), query.labels.numpy(), n_classes,
                     res["knn"]["k"], res["knn"]["t"])
m = run.metrics
res["urlsom"] = {"run": str(run.path), "config_key": run.config.key(), "knn_accuracy": acc,
                 "neural_selectivity": m.get("neural_selectivity"),
                 "heldout_neural_selectivity": m.get("heldout_neural_selectivity"),
                 "train_seconds": m.get("train_seconds"), "epochs": m.get("epochs_trained"),
                 "stop_reason": m.get("stop_reason"), "same_data": run.config.data.to_dict() if hasattr(run.config.data, "to_dict") else None,
                 "scored_seconds": round(time.time() - t0, 1),
                 "note": "scored afterwards by /tmp/ssl/score_urlsom.py with ssl_baseline's knn_split and knn_accuracy on the same bank and queries"}
json.dump(res, open(res_path, "w"), indent=1, default=str)
print("URL-SOM backbone kNN accuracy", acc, "held-out NS", m.get("heldout_neural_selectivity"))
