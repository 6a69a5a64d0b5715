"""`cloudports query`: may A open a connection to B on a port — by the spec's intent, or by a cloud's rules?"""
