from tests.factories import licence, random_uscc


def test_a_licence_is_projected_on_both_stores(services):
    uscc = random_uscc()
    written = services.ledger.license(**licence(uscc))
    assert (written.version, written.position) == (1, 1)
    live = services.projections.live()
    assert live is not None and live.position == 1
