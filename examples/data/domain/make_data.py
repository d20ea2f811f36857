#!/usr/bin/env python3
"""make_data.py - writes the domain dataset of the demo (tools/demo.sh): the support knowledge of a
fictional product, the Orbik robot vacuums, answered in a fixed house format:

    Answer: <one sentence with the fact>
    Ref: KB-<four digits>

Everything comes from the fact table below, so the data is consistent and every answer checkable.
Each fact is asked in TRAIN_PER_FACT differently worded questions in train.jsonl; heldout.jsonl asks
about the same facts in wordings that appear nowhere in train.jsonl (its own templates), and carries
the checkable parts of the expected answer ("kb", "keywords") next to the chat messages (the data
loader reads only "messages"). tools/score_answers.py scores generated answers against them.

    python3 examples/data/domain/make_data.py [--out DIR]    (default: this script's folder)

Deterministic (seeded); the committed files are its output. Written for this repository: the
product, its codes and its procedures are made up."""
import argparse
import json
import os
import random

PRODUCT = ["Orbik", "my Orbik", "the Orbik R3", "my Orbik R5 Pro", "the R5 Pro", "my R3", "the robot", "my robot vacuum"]

# Error codes: code -> (KB number, what it means, what to do, keywords a correct answer contains)
ERRORS = [
    ("E11", 1011, "the left drive wheel is stuck", "lift the robot and pull hair and string off the left wheel", ["left wheel"]),
    ("E21", 1021, "the cliff sensors are dirty", "wipe the four cliff sensors underneath with a dry cloth", ["cliff sensors"]),
    ("E23", 1023, "the dustbin is missing", "push the dustbin back in until it clicks", ["dustbin"]),
    ("E31", 1031, "the battery is too hot", "switch it off and let it cool for 30 minutes", ["30 minutes"]),
    ("E35", 1035, "the charging contacts are dirty", "clean the metal charging contacts on the robot and the dock", ["charging contacts"]),
    ("E42", 1042, "the main brush is jammed", "take out the main brush and cut away wrapped hair", ["main brush"]),
    ("E47", 1047, "the robot lost its Wi-Fi connection", "move the dock closer to the router and pair it again in the Orbik Home app", ["Orbik Home app"]),
    ("E63", 1063, "the mop water tank is empty", "refill the water tank with cold tap water", ["water tank"]),
]

# Other facts: (KB number, topic words used in questions, answer sentence, keywords)
FACTS = [
    (2001, "factory reset", "Hold the Power and Home buttons together for 10 seconds until the ring flashes amber.", ["10 seconds", "amber"]),
    (2002, "Wi-Fi pairing", "Hold the Home button for 5 seconds until the ring blinks blue, then add the robot in the Orbik Home app.", ["5 seconds", "blue"]),
    (2004, "filter replacement", "Replace the HEPA filter every 2 months, or every month with pets.", ["2 months"]),
    (2006, "battery life of the R3", "The Orbik R3 runs for 90 minutes on a full charge.", ["90 minutes"]),
    (2008, "warranty", "The robot has a 2-year warranty and the battery 1 year; registering in the app adds a third year.", ["2-year", "1 year"]),
    (2009, "return window", "You can return an Orbik within 30 days of delivery for a full refund.", ["30 days"]),
    (2010, "Wi-Fi bands", "Orbik robots connect only to 2.4 GHz Wi-Fi networks, not 5 GHz.", ["2.4 GHz"]),
    (2011, "red dock light", "A red light on the dock means a fault: check the error code in the Orbik Home app.", ["fault", "error code"]),
]

# Question templates. TRAIN and HELDOUT never share a template; {c} is the code, {p} a product phrase,
# {t} a topic.
ERR_TRAIN = [
    "What does error {c} mean?",
    "{p} shows {c}. What should I do?",
    "I keep getting code {c} on {p}.",
    "How do I fix error {c}?",
    "Error {c} just came up, help!",
    "{p} stopped and says {c}.",
    "What is {c} on an Orbik?",
    "The app reports {c} for {p}. Meaning?",
    "Why does {p} display {c}?",
    "Can you explain fault {c}?",
    "Got {c} again today, how to solve it?",
    "{c} on {p} - what now?",
]
ERR_HELDOUT = [
    "My vacuum is beeping and the Orbik Home app shows {c}. How can I get it cleaning again?",
    "Quick question: what is the fix for {c}?",
]
# the runtime questions, for a model (m)
RUNTIME_TRAIN = ["What is the battery life of the {m}?", "How long does the {m} run?", "{m} runtime on one charge?",
                 "How many minutes does an Orbik {m} clean?", "Battery life of the Orbik {m}?",
                 "How long can my {m} vacuum before charging?", "{m} battery runtime?", "How long does a charge last on the {m}?",
                 "What runtime does the {m} have?", "{m}: how long per charge?", "Tell me the {m} battery life.",
                 "Orbik {m} cleaning time per charge?"]
FACT_TRAIN = {
    2001: ["How do I do a factory reset?", "How can I factory reset {p}?", "Factory reset steps please.", "I want to factory reset {p}.",
           "What is the factory reset procedure?", "How to factory reset an Orbik?", "Factory reset for {p}?",
           "Tell me how to factory reset the robot.", "Which buttons do a factory reset?", "Need a factory reset on {p}.",
           "Explain the factory reset.", "Factory reset: how?"],
    2002: ["How do I pair {p} with Wi-Fi?", "Wi-Fi pairing steps?", "How to connect {p} to Wi-Fi?", "How does Wi-Fi pairing work?",
           "I need to pair {p} with my Wi-Fi.", "Explain Wi-Fi pairing for Orbik.", "Set up Wi-Fi on {p}?",
           "How can I put {p} in Wi-Fi pairing mode?", "Wi-Fi pairing for {p}, please.", "Steps to join {p} to Wi-Fi?",
           "How do I start Wi-Fi pairing?", "Connecting {p} to Wi-Fi, how?"],
    2004: ["How often should I replace the filter?", "When do I change the HEPA filter?", "Filter replacement interval for {p}?",
           "How long does the filter last?", "When is filter replacement due?", "How often does {p} need a new filter?",
           "Filter replacement schedule?", "Do I need to change the filter often?", "When should the HEPA filter be swapped?",
           "Filter life on {p}?", "How frequently is filter replacement needed?", "Replacing the filter: how often?"],
    2006: [t.format(m="R3") for t in RUNTIME_TRAIN],
    2008: ["What is the warranty?", "How long is the Orbik warranty?", "Warranty on {p}?", "Is the battery covered by the warranty?",
           "What warranty do I get?", "Warranty terms please.", "How many years of warranty does {p} have?", "Does registering extend the warranty?",
           "Explain the warranty.", "Warranty length for {p}?", "What does the warranty cover?", "Tell me about the warranty."],
    2009: ["Can I return {p}?", "What is the return window?", "How many days do I have to return an Orbik?", "Return policy?",
           "I want to return {p}, is it too late?", "Refund period for {p}?", "How long can I return it for a refund?",
           "Return window for Orbik?", "Can I still send {p} back?", "What is the refund policy?", "Returns: how many days?",
           "Is there a return period?"],
    2010: ["Does {p} support 5 GHz Wi-Fi?", "Which Wi-Fi bands work?", "Can Orbik use 5 GHz?", "What Wi-Fi band does {p} need?",
           "Wi-Fi bands supported?", "My router is 5 GHz only, will {p} connect?", "Which Wi-Fi frequency does Orbik use?",
           "Is 5 GHz Wi-Fi supported?", "What network band should I use for {p}?", "Wi-Fi band requirements?",
           "Does the robot work on 5 GHz?", "2.4 or 5 GHz for {p}?"],
    2011: ["What does a red dock light mean?", "The dock light is red.", "Red light on the dock of {p}?", "Why is the dock light red?",
           "Red dock light, what now?", "My dock shows a red light.", "What is the red light on the Orbik dock?",
           "The dock of {p} glows red.", "Red dock light meaning?", "Solid red light on the dock, help.", "Dock light turned red.",
           "Explain the red dock light."],
}
FACT_HELDOUT = {
    2001: ["I'd like to wipe every setting and start over from scratch. Which buttons?"],
    2002: ["I got a new router. How do I get the robot back onto the wireless network?"],
    2004: ["We have two cats. How often does the HEPA filter need swapping?"],
    2006: ["Before it needs the dock, how long does an R3 keep cleaning?"],
    2008: ["It broke after 18 months. Am I still covered, and what about the battery?"],
    2009: ["It arrived last week and I don't like it. Can I get my money back?"],
    2010: ["My home network runs on 5 GHz. Is that a problem for the vacuum?"],
    2011: ["The light on the charging station turned red overnight. What is going on?"],
}


def answer(kb, text):
    return f"Answer: {text}\nRef: KB-{kb}"


def chat(q, a):
    # no system message: the house format is what fine-tuning teaches, and rows stay short (~52 tokens)
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    rng = random.Random(10)
    train, held = [], []
    for code, kb, meaning, fix, keys in ERRORS:
        a = answer(kb, f"{code} means {meaning}: {fix}.")
        for t in ERR_TRAIN:
            q = t.format(c=code, p=rng.choice(PRODUCT))
            train.append(chat(q[0].upper() + q[1:], a))
        for t in ERR_HELDOUT:
            row = chat(t.format(c=code), a)
            row.update(kb=f"KB-{kb}", keywords=keys)
            held.append(row)
    for kb, topic, text, keys in FACTS:
        a = answer(kb, text)
        for t in FACT_TRAIN[kb]:
            q = t.format(p=rng.choice(PRODUCT))
            train.append(chat(q[0].upper() + q[1:], a))
        for t in FACT_HELDOUT[kb]:
            row = chat(t, a)
            row.update(kb=f"KB-{kb}", keywords=keys)
            held.append(row)
    train_q = {r["messages"][0]["content"] for r in train}
    assert not any(r["messages"][0]["content"] in train_q for r in held), "a held-out question is in train"
    rng.shuffle(train)
    rng.shuffle(held)
    for name, rows in (("train.jsonl", train), ("heldout.jsonl", held)):
        with open(os.path.join(args.out, name) + ".tmp", "w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(os.path.join(args.out, name) + ".tmp", os.path.join(args.out, name))
    print(f"{args.out}: train.jsonl {len(train)} examples, heldout.jsonl {len(held)} "
          f"({len(ERRORS)} error codes, {len(FACTS)} other facts)")


if __name__ == "__main__":
    main()
