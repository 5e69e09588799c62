import pytest

from chat.protocol import ProtocolError, Question, Stop, parse_frame


def test_question_and_stop_frames_parse():
    assert parse_frame('{"type": "question", "text": " Hi? ", "conversation_id": 3}', max_chars=50) == Question(
        "Hi?", 3
    )
    assert parse_frame('{"type": "stop"}', max_chars=50) == Stop()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "JSON text frames"),
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "rm -rf"}', "Unknown message type"),
        ('{"type": "question"}', "empty"),
        ('{"type": "question", "text": "   "}', "empty"),
        ('{"type": "question", "text": 42}', "empty"),
        ('{"type": "question", "text": "' + "a" * 51 + '"}', "too long"),
        ('{"type": "question", "text": "x' + "a" * 500 + '"}', "too long"),
        ('{"type": "question", "text": "hi", "conversation_id": "1; DROP TABLE"}', "must be a number"),
        ('{"type": "question", "text": "hi", "conversation_id": true}', "must be a number"),
    ],
)
def test_malformed_frames_get_a_sentence(raw, message):
    with pytest.raises(ProtocolError, match=message):
        parse_frame(raw, max_chars=50)


def test_every_constructor_makes_a_frame_that_validates():
    from chat import protocol

    frames = [
        protocol.answer_start(conversation_id=1, message_id=2, title="Leave", standalone_question="leave?"),
        protocol.answer_delta("You get 25 days [1]."),
        protocol.answer_citations(message_id=2, citations=[]),
        protocol.answer_end(message_id=2, status="complete", answer="x", support=[], gate={}, notes=[]),
        protocol.answer_end(message_id=None, status="stopped"),
        protocol.error("The question is empty."),
    ]
    for frame in frames:
        protocol.validate(frame)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "answer.delta"},  # missing text
        {"type": "answer.delta", "text": 3},
        {"type": "answer.delta", "text": "x", "extra": 1},
        {"type": "answer.end", "message_id": 1, "status": "done", "answer": ""},
        {"type": "answer.end", "message_id": True, "status": "failed", "answer": ""},
        {"type": "answer.citations", "message_id": 1, "citations": [{"marker": 1}]},
        {"type": "answer.progress"},
        ["answer.delta"],
    ],
)
def test_frames_outside_the_protocol_are_refused(frame):
    from chat import protocol

    with pytest.raises(ValueError):
        protocol.validate(frame)
