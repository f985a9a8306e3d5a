"""Writes swag_train.csv / swag_dev.csv: a synthetic smoke-scale SWAG-layout set (which sound an
animal makes, four endings, the right one at a random index). Run from the repository root."""

import csv
import random

ANIMALS = {"cat": "meows", "dog": "barks", "cow": "moos", "duck": "quacks", "lion": "roars",
           "sheep": "bleats"}


def rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        animal = rng.choice(list(ANIMALS))
        endings = rng.sample([s for a, s in ANIMALS.items() if a != animal], 3)
        label = rng.randrange(4)
        endings.insert(label, ANIMALS[animal])
        out.append({"sent1": f"The {animal} opens its mouth.", "sent2": "It",
                    **{f"ending{i}": f"{e} loudly." for i, e in enumerate(endings)}, "label": label})
    return out


if __name__ == "__main__":
    for split, n, seed in (("train", 48, 0), ("dev", 16, 1)):
        with open(f"tests/tasks/data/swag_{split}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["sent1", "sent2", *(f"ending{i}" for i in range(4)), "label"])
            w.writeheader()
            w.writerows(rows(n, seed))
