"""The one exception type a student can meet, with a sentence that says what to do."""


class FaceNetEduError(Exception):
    """A problem with the user's input or environment, explained in plain words.

    Raised for things a student can fix: an unreadable image, a face that cannot be
    found, an empty gallery, a dataset that cannot be downloaded offline, a file that
    is not a facenet-edu checkpoint. Bugs in the package raise ordinary exceptions.
    """
