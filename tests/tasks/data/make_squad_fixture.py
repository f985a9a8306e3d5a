"""Writes squad_train.json / squad_dev.json: hand-written questions over the first sentences of the
bundled news articles (smoke-scale, SQuAD v2.0 layout; every third question of an article goes to dev).

Run from the repository root: python tests/tasks/data/make_squad_fixture.py
"""

import itertools
import json
import re

from bertkit.datasets import news_articles

arts = {a['article_id']: a for a in itertools.islice(news_articles(), 0, 8)}
def ctx(aid, n=6):
    t = arts[aid]['text']
    parts = re.split(r'(?<=\.) ', t)
    return ' '.join(parts[:n])
Q = {  # article: [(question, answer or None)]
 '1': [("Who was confirmed as secretary of education?", "Betsy DeVos"),
       ("Who cast the tie-breaking vote?", "Vice President Mike Pence"),
       ("Where did the tie-breaking vote happen?", "the Senate"),
       ("What was the final tally of the vote?", "51-50"),
       ("What vote count did Pence read before voting?", "50-50"),
       ("Which state is DeVos from?", "Michigan"),
       ("Who did the Democrats nominate instead of DeVos?", None),
       ("How many senators resigned after the vote?", None)],
 '2': [("What could the position mean for Melania Trump's personal brand?", "millions of dollars"),
       ("Who criticised the statement?", "ethics watchdogs"),
       ("On what day did the statement come?", "Monday"),
       ("In what kind of lawsuit was the statement made?", "a libel lawsuit"),
       ("How do the lawyers describe her term?", "multi-year term"),
       ("What brand of perfume does Melania sell?", None)],
 '3': [("Who voted to eliminate the election commission?", "A House committee"),
       ("On which day did the committee vote?", "Tuesday"),
       ("Who would head the White House commission?", "Vice President Mike Pence"),
       ("Which network interviewed Trump?", "Fox News"),
       ("When did the Fox News interview air?", "Sunday"),
       ("How many commissioners did the election commission have?", None)],
 '4': [("How many federal judges will hear the arguments?", "three"),
       ("Which court will hear the arguments?", "the 9th Circuit Court of Appeals"),
       ("How long may each side argue?", "30-minute"),
       ("At what time is the hearing?", "3 p.m. Pacific time"),
       ("Which states are the plaintiffs?", "Washington and Minnesota"),
       ("How many countries does the order cover?", "seven"),
       ("Who is the chief judge of the court?", None)],
 '5': [("How many tornadoes touched down?", "At least four"),
       ("In which state did the tornadoes touch down?", "Louisiana"),
       ("Which meteorologist reported the tornadoes?", "Melissa Griffin"),
       ("For which news organisation does Griffin work?", "ABC News"),
       ("When did the watch in Louisiana and Mississippi expire?", "after 2 p.m."),
       ("How many people died in the storms?", None)],
 '6': [("Where was the backpacker slain?", "an Australian hostel"),
       ("To whom did the mother write an open letter?", "U.S. President Donald Trump"),
       ("How old was Mia Ayliffe-Chung?", "20"),
       ("How many attacks were on the White House list?", "78"),
       ("What is the name of the backpacker's mother?", "Rosie Ayliffe"),
       ("How old was Tom Jackson?", "30"),
       ("Which airline did the backpacker fly?", None)],
 '7': [("Who was Trump's pick for labor secretary?", "Andrew Puzder"),
       ("When did Puzder make his admission?", "Monday night"),
       ("Whom did Puzder and his wife employ?", "a housekeeper"),
       ("What kind of executive is Puzder?", "a fast food executive"),
       ("To which state did they pay back taxes?", "California"),
       ("How much did the housekeeper earn?", None)],
 '8': [("Who did Iran's supreme leader call a newcomer?", "President Donald Trump"),
       ("What did Iran test last week?", "a ballistic missile"),
       ("What was Iran playing with, according to Trump?", "fire"),
       ("Who makes the final decisions on major policies in Iran?", "Ayatollah Ali Khamenei"),
       ("Which channel carried the remarks?", "State TV"),
       ("Which administration approved the sanctions relief?", "the Obama administration"),
       ("How many missiles did Iran test?", None)],
}
def build(split):
    data = []
    for aid, qs in Q.items():
        c = ctx(aid)
        qas = []
        for k, (q, a) in enumerate(qs):
            if (k % 3 == 2) != (split == 'dev'):
                continue
            qid = f"news{aid}-q{k}"
            if a is None:
                qas.append({"id": qid, "question": q, "answers": [], "is_impossible": True})
            else:
                s = c.find(a)
                if s < 0:
                    raise ValueError(f"{a!r} is not in article {aid}")
                qas.append({"id": qid, "question": q, "answers": [{"text": a, "answer_start": s}],
                            "is_impossible": False})
        data.append({"title": arts[aid]['title'], "paragraphs": [{"context": c, "qas": qas}]})
    return {"version": "v2.0", "source": "hand-written questions over bertkit.datasets.news_articles "
            "(smoke-scale)", "data": data}
if __name__ == "__main__":
    for split in ("train", "dev"):
        with open(f"tests/tasks/data/squad_{split}.json", "w", encoding="utf-8") as f:
            json.dump(build(split), f, indent=1, ensure_ascii=False)
