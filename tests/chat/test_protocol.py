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
