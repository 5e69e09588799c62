from chat.followup import standalone_question

FIRST = "How many days of annual leave do full-time employees get?"


def test_a_new_conversation_keeps_the_question():
    assert standalone_question("  and for part-timers? ", None) == "and for part-timers?"


def test_an_elliptical_follow_up_borrows_the_previous_question():
    assert standalone_question("and for part-timers?", FIRST) == (
        "How many days of annual leave do full-time employees get, for part-timers?"
    )
    assert standalone_question("What about interns?", FIRST).endswith("get, interns?")


def test_a_follow_up_that_refers_back_gets_the_previous_question_as_context():
    assert standalone_question("Can it be carried over?", FIRST) == f"{FIRST[:-1]}: Can it be carried over?"


def test_a_question_that_stands_alone_is_left_alone():
    question = "Is there a limit on home office equipment?"
    assert standalone_question(question, FIRST) == question
