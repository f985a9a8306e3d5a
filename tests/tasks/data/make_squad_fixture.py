"""Writes squad_train.json / squad_dev.json: hand-written questions over the first sentences of the
bundled news articles (smoke-scale, SQuAD v2.0 layout; every third question of an article goes to dev;
about a quarter unanswerable). Each answer's position is found in the context by code, not typed.

Run from the repository root: python tests/tasks/data/make_squad_fixture.py
"""

import itertools
import json
import re

from bertkit.datasets import news_articles

arts = {a['article_id']: a for a in itertools.islice(news_articles(), 0, 20)}
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
 '9': [("Who is warning Britain about its financial commitments?", "The European Union"),
       ("How high could the exit bill go, in euros?", "60 billion euros"),
       ("What is the exit bill in dollars?", "$64 billion"),
       ("Who is the EU Commission spokesman?", "Margaritis Schinas"),
       ("On what day did Schinas speak?", "Tuesday"),
       ("With how many friends is the pub compared?", "27 friends"),
       ("When will Britain leave the EU?", None),
       ("Who is Britain's chief negotiator?", None)],
 '10': [("Who is the alleged killer on the run?", 'William "Billy" Boyette'),
        ("Who is Boyette's alleged accomplice?", "Mary Rice"),
        ("How many women died?", "three women"),
        ("How old is Boyette?", "44"),
        ("How old is Mary Rice?", "37"),
        ("Which animals help in the search?", "bloodhounds"),
        ("Who is the Escambia County Sheriff?", "David Morgan"),
        ("What reward is offered for information?", None),
        ("In which city was Boyette born?", None)],
 '11': [("Where has the flu season been particularly rough?", "New York City"),
        ("How many pediatric deaths were reported in the city?", "four pediatric deaths"),
        ("In which month did the city's pediatric deaths occur?", "January"),
        ("How many flu-related pediatric deaths were there in the nation?", "15"),
        ("Which agency saw epidemic levels of flu activity?",
         "the U.S. Centers for Disease Control and Prevention"),
        ("Which states reported high levels of flu-like activity?", "New York, New Jersey and Pennsylvania"),
        ("How many adults died of the flu in New York?", None),
        ("Which vaccine did the CDC recommend?", None)],
 '12': [("Who told lawmakers the country is in a political crisis?", "Romania's president"),
        ("What is the name of Romania's president?", "Klaus Iohannis"),
        ("How old is the government?", "two-month-old"),
        ("In what year did communism end in Romania?", "1989"),
        ("Where did thousands gather for the eighth evening?", "Victory Square"),
        ("How many protesters gathered outside the presidential palace?", "about 2,000"),
        ("What did the emergency ordinance aim at?", "decriminalizing some forms of official corruption"),
        ("Who is Romania's prime minister?", None),
        ("How many people were arrested at the protests?", None)],
 '13': [("Who says the future is female?", "Hillary Clinton"),
        ("Which march does Clinton cite as an example?", "Women's March"),
        ("For which conference was the video made?", "the MAKERS Conference"),
        ("Where is the MAKERS Conference held?", "California"),
        ("How long does the MAKERS Conference last?", "three-day"),
        ("On what day did the conference begin?", "Monday"),
        ("How many people attended the conference?", None),
        ("Who organised the Women's March?", None)],
 '14': [("Who is the secretary of Homeland Security?", "John Kelly"),
        ("How did Kelly describe the executive order?", "lawful and constitutional"),
        ("How many Muslim-majority nations does the order cover?", "seven"),
        ("What does Kelly call the order instead of a Muslim ban?", "pause"),
        ("How many of the countries does Kelly call nearly failed states?", "five"),
        ("How many of the countries have no U.S. embassies?", "four"),
        ("Which senator questioned Kelly first?", None),
        ("How long did the hearing last?", None)],
 '16': [("Whom did Trump lambast on Monday?", 'the "dishonest press"'),
        ("Where did Trump speak?", "MacDill Air Force Base"),
        ("In which city is the base?", "Tampa, Florida"),
        ("Which European cities did Trump name?", "Paris, Nice"),
        ("To whom was the address given?", "U.S. service members"),
        ("Which attacks did Trump say were not reported?", None),
        ("How many service members attended?", None)],
 '17': [("How old is Tom Brady?", "39 years old"),
        ("Which team did Brady lead to victory?", "the New England Patriots"),
        ("Which team lost the Super Bowl?", "the Atlanta Falcons"),
        ("Which Super Bowl was it?", "Super Bowl LI"),
        ("What title did Brady earn?", "the game's MVP title"),
        ("Who is Brady's wife?", "Gisele Bundchen"),
        ("Whose radio show was Brady on?", "Jim Miller"),
        ("How many times did his wife tell him to retire?", "three times"),
        ("What was the final score of the game?", None),
        ("How many Super Bowls has Brady won?", None)],
 '18': [("Who is joining the search for the jersey?", "The Texas Rangers"),
        ("Where was the jersey allegedly stolen from?", "the Patriots locker room"),
        ("In which city was the Super Bowl played?", "Houston"),
        ("Who asked the Texas Rangers to help?", "Dan Patrick"),
        ("Which police force is looking for the jersey?", "the Houston Police"),
        ("Where will the jersey likely go one day?", "the Hall of Fame"),
        ("How much is the jersey worth?", None),
        ("Who stole the jersey?", None)],
 '19': [("Who was poisoned?", "Vladimir Kara-Murza"),
        ("What is the name of the activist's wife?", "Evgenia Kara-Murza"),
        ("Which news organisation interviewed her?", "ABC News"),
        ("In which city is the hospital?", "Moscow"),
        ("How old is Vladimir Kara-Murza?", "35-year-old"),
        ("On what day was the activist hospitalized?", "Thursday"),
        ("In what year was he first poisoned?", "2015"),
        ("What substance poisoned him?", None),
        ("Which hospital treated him?", None)],
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
