from tests.conftest import RunningPacs, dcmtk


def test_echoscu_is_answered(pacs: RunningPacs) -> None:
    result = dcmtk("echoscu", "-v", "-aet", "ECHOSCU", *pacs.address())
    assert "Received Echo Response (Success)" in result.stderr + result.stdout
